"""The inspect stage: say what a model, adapter, content encoder, pitch model or index file is (``stage``)."""
