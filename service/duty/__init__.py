"""Building duty (楼栋轮值): the chair, the weekly rotation, disputes and property-service ratings."""
