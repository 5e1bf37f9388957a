import sys

from bmp.course.runner import main

sys.exit(main())
