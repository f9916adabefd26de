package portal

// homeView is the console's first page: where to start.
type homeView struct {
	People      int
	OpenReports int
	// ReportsMore: there are more open reports than were counted.
	ReportsMore bool
}

func (p *Portal) consoleHome(rq *request) error {
	v := &homeView{}
	total, _, err := p.Directory.CountPeople(rq.ctx(), rq.tenant.ID, nil)
	if err != nil {
		return err
	}
	v.People = total
	reports, err := p.Directory.SupportRequests(rq.ctx(), rq.tenant.ID, "", 100)
	if err != nil {
		return err
	}
	for _, r := range reports {
		if r.State != "closed" {
			v.OpenReports++
		}
	}
	v.ReportsMore = len(reports) == 100
	rq.render("console_home", &Page{Title: "console.home.title", Console: &ConsoleNav{Section: "home"}, Data: v, Notice: rq.notice()})
	return nil
}
