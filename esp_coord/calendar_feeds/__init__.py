from flask import Blueprint

bp = Blueprint("calendar_feeds", __name__)
