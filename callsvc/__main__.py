from callsvc.cli import main

main()
