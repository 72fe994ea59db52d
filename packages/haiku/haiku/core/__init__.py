"""The pure core of HAiku: no I/O, no Django. Allocation, rendering of mip6d files, keys,
tokens, the settings table and the SVG plot; each tested with exact values."""
