"""Party branches and groups that own grids, and county departments paired with communities."""
