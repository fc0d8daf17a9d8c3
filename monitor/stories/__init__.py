"""Stories: the articles that report one event, grouped as they arrive.

``Grouper`` decides (grouper.py); ``featurize`` reads an article (features.py); names
meet across languages in ``names.py``; ``cluster_records`` is the measuring contract
behind ``newsmon stories cluster`` (cluster.py). See docs/stories.md.
"""

from monitor.stories.cluster import StoryInputError, cluster_file, cluster_records
from monitor.stories.features import Article
from monitor.stories.grouper import Assignment, Grouper, Story, StorySettings

__all__ = [
    "Article",
    "Assignment",
    "Grouper",
    "Story",
    "StoryInputError",
    "StorySettings",
    "cluster_file",
    "cluster_records",
]
