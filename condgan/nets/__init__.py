"""Plain ``torch.nn`` building blocks: generators, discriminators, initialisation."""
