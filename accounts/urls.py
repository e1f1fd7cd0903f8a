from django.urls import path

from accounts import views

# No app_name: settings.LOGIN_URL refers to the plain name "login", as Django's own auth URLs do.
urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("settings/", views.account_settings, name="account_settings"),
]
