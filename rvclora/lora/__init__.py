"""The LoRA core: config → injector → one wrapper per layer type → ``delta_weight()`` used everywhere."""
