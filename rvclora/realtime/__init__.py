"""Real-time conversion: a block-by-block :class:`~rvclora.realtime.stream.Stream` and the settings it runs with."""
