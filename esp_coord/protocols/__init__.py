from flask import Blueprint

bp = Blueprint("protocols", __name__)
