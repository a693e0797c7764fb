from django.contrib import admin
from django.urls import include, path

from cloudpbx.api import api
from cloudpbx.provisioning import views as provisioning_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("prov/", include("cloudpbx.provisioning.urls")),
    path("app/<str:token>", provisioning_views.app_config, name="app-config"),
    path("pbx/terminals/", include("cloudpbx.web.terminals.urls")),
    path("pbx/terminals/", include("cloudpbx.web.phones.urls")),
    path("pbx/extensions/", include("cloudpbx.web.extensions.urls")),
    path("pbx/numbers/", include("cloudpbx.web.numbering.urls")),
    path("", include("cloudpbx.web.urls")),
]
