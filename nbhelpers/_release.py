"""The release, in one place: the package version and where the course lives.

Everything that names a version, a tag or the repository reads this file:
``pyproject.toml`` (``[tool.setuptools.dynamic]``), ``nbhelpers.__version__``,
``scripts/nbtools.py`` (Colab badges, the setup cell's install line, the
README and its link to the site, ``CITATION.cff``), ``scripts/build_site.py`` and
``scripts/release.py``.  It imports nothing, so the build backend and the
scripts can read it without importing nbhelpers.  To publish the course
somewhere else, change ``REPO_URL`` and run ``make nav`` (docs/publishing.md).
"""

#: The package version; the git tag of the release is ``TAG``.
VERSION = "0.1.0"
#: The public home of the course (a GitHub repository: Colab opens notebooks from it).
REPO_URL = "https://github.com/finetune-course/finetune-vgg16"
#: The git tag the notebooks, badges and install line point at.
TAG = f"v{VERSION}"
#: The site with the executed notebooks (GitHub Pages of ``REPO_URL``; .github/workflows/site.yml
#: publishes it from a real ``cpu`` run).
SITE_URL = "https://{}.github.io/{}/".format(*REPO_URL.removeprefix("https://github.com/").split("/"))
