"""Service stations: elderly care, childcare, convenience, parcel, volunteer and party-mass centres."""
