from django.urls import path

from cloudpbx.web.numbering import views

app_name = "numbers"
urlpatterns = [
    path("", views.number_list, name="list"),
    path("<int:pk>/destination/", views.number_destination, name="destination"),
]
