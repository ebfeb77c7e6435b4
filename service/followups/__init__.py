"""Follow-ups (书记敲门 and return visits): every matter answered, every case settled (事事有回音、件件有着落)."""
