from rvclora.cli import main

main()
