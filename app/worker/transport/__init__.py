"""The private-API code: kombu's Redis transport without loss, acknowledgements and
ownership, memory pressure, grouped storage, and the library versions it was tested with."""
