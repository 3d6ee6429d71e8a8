"""livecmd: the sample-level CNNs of Lee et al. (2017) on raw 16 kHz audio, and a live recognizer.

Public API: `livecmd.models.build_model`, `livecmd.weights.load` / `save`, `livecmd.audio.load`,
`livecmd.domains.DOMAINS`.
"""

__version__ = "0.1.0"
