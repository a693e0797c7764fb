"""Entry module that Kamailio's app_python3 loads (``modparam("app_python3", "load", …)``).

Kamailio embeds Debian's libpython3.11, not our virtualenv: the venv's site-packages (with the
editable cloudpbx install) are added from ``CLOUDPBX_SITE_PACKAGES``, set by the supervisor.
"""

import os
import site

if os.environ.get("CLOUDPBX_SITE_PACKAGES"):
    site.addsitedir(os.environ["CLOUDPBX_SITE_PACKAGES"])

import logging.config

from django.conf import settings

from cloudpbx import config, logs

CONFIG = config.load()
# The numbering rules build messages with gettext_lazy (SIP needs no translations); the
# trunk's password is decrypted with the server key.
if not settings.configured:
    settings.configure(
        USE_I18N=False,
        SECRET_KEY=CONFIG.secret_key,
        SECRET_KEY_FALLBACKS=CONFIG.secret_key_fallbacks,
    )

from cloudpbx.sip.ksr import Router  # noqa: E402 (needs the settings above)

# The router's lines as the web's (plain or JSON), on stderr beside Kamailio's own.
logging.config.dictConfig(logs.configuration(CONFIG.log_format))


def mod_init() -> Router:
    return Router(CONFIG)
