"""Operations on the running system: the local stack, seeding, load, audit and benchmarks."""
