"""The provisioning routes alone: these tests do not depend on the rest of the site's URLs."""

from django.urls import include, path

urlpatterns = [path("prov/", include("cloudpbx.provisioning.urls"))]
