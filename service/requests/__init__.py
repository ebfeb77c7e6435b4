"""Residents' requests (诉求): intake, the closed loop's rules (``policy``) and their application
(``workflow``), deadlines (``sla``, ``scheduler``), assignment, access and the requests API."""
