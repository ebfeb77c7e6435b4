"""The kinds of file a city brings, each a ``KindSpec``: its fields, its geometry and how it is saved."""
