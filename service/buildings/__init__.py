"""Buildings (楼栋): footprints with households, residents and a building chair."""
