from django.contrib.auth import views as auth_views
from django.urls import path

from cloudpbx.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", views.tenants, name="tenants"),
    path("pbx/", views.pbx, name="pbx"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.live, name="live"),
    path("metrics", views.metrics_view, name="metrics"),
]
