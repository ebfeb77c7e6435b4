"""Input field types every domain shares: strict numbers and 32-bit ids (JSON ``"3"`` is not ``3``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

#: A finite JSON number; a string that looks like one is refused, naming the field.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: A stored row's id: 32-bit on both backends.
Id = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]
