"""The web portal: merchants and partners set up, watch and fix their integration in a browser.

``create_portal(store, engine=..., config=PortalConfig.from_env())`` gives a FastAPI app to mount
(``shopbridge run`` mounts it on the engine's port; the scale-out ``shopbridge web`` can do the same).
Isolation between tenants lives in ``scope.py``; sign-in, cookies, CSRF and the throttle in
``security.py`` and ``web.py``; notifications in ``notify/``.
"""

from .app import EngineControl, Portal, create_portal
from .config import PortalConfig, SmtpConfig, VismaApp

__all__ = ["EngineControl", "Portal", "PortalConfig", "SmtpConfig", "VismaApp", "create_portal"]
