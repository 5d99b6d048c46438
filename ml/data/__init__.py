"""Getting a shop's data in and building it: the raw contract, pseudonymisation, the synthetic
shop, ingest, the DuckDB warehouse and the analysts' database, the dbt runner and graph, and
Great Expectations. May import the shared modules; never a model, training or the run."""
