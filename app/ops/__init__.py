"""Operations: the health check (and what operators read about a running deployment)."""
