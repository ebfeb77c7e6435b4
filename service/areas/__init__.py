"""The administrative hierarchy: district → township → community → residential compound."""
