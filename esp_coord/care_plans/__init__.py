from flask import Blueprint

bp = Blueprint("care_plans", __name__)
