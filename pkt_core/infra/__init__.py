"""Infrastructure, the lowest layer: where shipped files are (`paths`), run directories
(`runs`), what a public lab allows (`policy`) and how long and how much memory a transfer will
take (`budget`). Nothing here knows a model, a task or a paradigm by name."""
