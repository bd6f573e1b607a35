# nbgrader configuration for JupyterLab's formgrader, started from the
# repository root (`course lab`): labs are read from labs/, and everything
# nbgrader writes (gradebook, release, submissions, feedback) goes to the
# ignored folder .course-work/formgrader/. The command line pipeline
# (`course release`, `course autograde`) uses graders/ directly.
import os

c = get_config()  # noqa: F821 - provided by nbgrader
here = os.path.dirname(os.path.abspath(__file__))
load_subconfig(os.path.join(here, "graders", "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.root = os.path.join(here, ".course-work", "formgrader")
os.makedirs(c.CourseDirectory.root, exist_ok=True)
c.CourseDirectory.source_directory = os.path.join(here, "labs")
# Local exchange for the Assignments tab (release_assignment / fetch on one machine).
c.Exchange.root = os.path.join(here, ".course-work", "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)
# Fetch puts a student's copy in devoirs/<lab>/ (ignored by git), never at the root;
# Submit takes it from there. Not a hidden folder: JupyterLab would not open it.
# `course lab` puts this folder on JUPYTER_CONFIG_PATH, so that nbgrader still reads
# this file after it moves into devoirs/ (see course_utils.cli.lab_env).
c.Exchange.assignment_dir = os.path.join(here, "devoirs")
os.makedirs(c.Exchange.assignment_dir, exist_ok=True)
