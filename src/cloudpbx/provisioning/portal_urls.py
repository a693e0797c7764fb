"""Portal URLs of the phone actions, under /pbx/terminals/ next to the terminal pages."""

from django.urls import path

from cloudpbx.provisioning import portal

app_name = "phones"
urlpatterns = [
    path("<int:pk>/redirect-retry/", portal.redirect_retry, name="redirect-retry"),
    path("<int:pk>/resync/", portal.resync_now, name="resync"),
    path(
        "<int:pk>/handset-registration/",
        portal.handset_registration,
        name="handset-registration",
    ),
]
