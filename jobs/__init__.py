"""Jobs: each module exposes `run(spark, config)` and a thin `main(argv)`."""
