import sys

if sys.argv[1:3] == ["iso", "personalize"]:  # milliseconds of work: only what it needs
    from homeguy.iso.personalize import main as personalize

    personalize(sys.argv[3:])
else:
    from homeguy.cli import main

    main()
