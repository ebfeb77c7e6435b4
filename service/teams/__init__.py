"""Professional service teams and in-service party members' double registration (双报到, "4+1")."""
