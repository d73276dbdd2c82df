"""``python -m keras_seismic.cli``, as the module ``cli.py`` was run before it became this
package: the same command line as ``python -m keras_seismic``."""
import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
