"""What the user asked for: the option table (argparse, conversion, the grouped --help),
the checks of option combinations, output paths and the --save-config file."""
