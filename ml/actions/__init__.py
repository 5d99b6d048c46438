"""What the CRM team gets from a champion: every customer scored in bounded chunks, the churn
reasons in plain words, product recommendations and review sentiment for the feature build.
May import models and data; never training or the run."""
