"""Key households (重点家庭包挂): the register, weekly visits, overdue warnings. The most sensitive data."""
