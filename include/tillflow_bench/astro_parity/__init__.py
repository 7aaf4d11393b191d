"""`tillflow bench astro-parity`: proves the `astro dev start` path as far as a machine without a
Docker engine can (static checks of the project files, then the image's build replayed)."""
