"""The dashboard's and the CLI's reads: the event stream, counts, ranges, error groups."""
