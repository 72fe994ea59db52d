from homeguy.cli import main

main()
