from django.urls import path

from cloudpbx.provisioning import build, views

urlpatterns = [
    path("", views.index, name="provisioning-index"),
    path(build.CA_FILE, views.ca_certificate, name="provisioning-ca"),
    path("<str:filename>", views.serve, name="provisioning-file"),
]
