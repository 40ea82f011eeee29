"""TFX-side code of nightshift: imported only in the runtime interpreter (.venv-tfx).

Every entry point (`python -m nightshift_tfx`, `nightshift_tfx.batch_score`, the warm runtime) imports this
package first, so the one setting TensorFlow must see before its first import is made here, once: TFX 1.16
and the pipelines' module files are Keras 2 code. Children and Beam workers inherit it through os.environ.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
