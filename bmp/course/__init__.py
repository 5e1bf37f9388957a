"""The course: helpers the notebooks import, and the headless runner (``python -m bmp course``)."""
from bmp.course.notebooks import OUTPUT_ENV, CourseRun, course_run, notebook_setup, output_dir, save_figure
from bmp.course.runner import NOTEBOOK_DIR, discover, run_course, select

__all__ = ["OUTPUT_ENV", "CourseRun", "course_run", "notebook_setup", "output_dir", "save_figure", "NOTEBOOK_DIR", "discover",
           "run_course", "select"]
