"""Portal URLs of the phone actions, under /pbx/terminals/ next to the terminal pages."""

from django.urls import path

from cloudpbx.web.phones import views

app_name = "phones"
urlpatterns = [
    path("<int:pk>/redirect-retry/", views.redirect_retry, name="redirect-retry"),
    path("<int:pk>/resync/", views.resync_now, name="resync"),
    path(
        "<int:pk>/handset-registration/",
        views.handset_registration,
        name="handset-registration",
    ),
]
