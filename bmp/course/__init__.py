"""The course: helpers the notebooks import, and the headless runner (``python -m bmp course``)."""
from bmp.course.notebooks import (
    OUTPUT_ENV,
    SOLUTIONS_ENV,
    BaseSetup,
    CourseRun,
    CourseSetup,
    base_setup,
    course_run,
    course_setup,
    ensure_pruned,
    ensure_teacher,
    notebook_setup,
    output_dir,
    save_figure,
    solution,
    solutions_enabled,
    time_banner,
)
from bmp.course.runner import NOTEBOOK_DIR, discover, run_course, select

__all__ = ["OUTPUT_ENV", "SOLUTIONS_ENV", "BaseSetup", "CourseRun", "CourseSetup", "base_setup", "course_run",
           "course_setup", "ensure_pruned", "ensure_teacher", "notebook_setup", "output_dir", "save_figure", "solution",
           "solutions_enabled", "time_banner", "NOTEBOOK_DIR", "discover", "run_course", "select"]
